/**
 * Devices and streams. `gpu` is MLX's GPU (Metal on Apple silicon, CUDA on NVIDIA builds) and
 * simply works where the linked MLX has one; the prebuilt Linux runtime is CPU-only.
 */
import { native } from './native.js';

export type DeviceType = 'cpu' | 'gpu';

export interface Device {
  readonly type: DeviceType;
  readonly index: number;
}

export interface Stream {
  readonly device: Device;
  readonly index: number;
}

export const cpu: Device = Object.freeze({ type: 'cpu', index: 0 });
export const gpu: Device = Object.freeze({ type: 'gpu', index: 0 });

const code = (t: DeviceType) => {
  if (t !== 'cpu' && t !== 'gpu') throw new TypeError(`device must be 'cpu' or 'gpu', got ${JSON.stringify(t)}`);
  return t === 'gpu' ? 1 : 0;
};
const toType = (d: DeviceType | Device): DeviceType => (typeof d === 'string' ? d : d?.type);

export function defaultDevice(): Device {
  return native.defaultDeviceType() === 1 ? gpu : cpu;
}

export function setDefaultDevice(device: DeviceType | Device): void {
  native.setDefaultDevice(code(toType(device)));
}

/** Whether MLX has this device in this build. */
export function isAvailable(device: DeviceType | Device): boolean {
  return native.deviceAvailable(code(toType(device)));
}

export function newStream(device: DeviceType | Device): Stream {
  const t = toType(device);
  return Object.freeze({ device: t === 'gpu' ? gpu : cpu, index: native.newStream(code(t)) });
}

export function defaultStream(device: DeviceType | Device = defaultDevice()): Stream {
  const t = toType(device);
  return Object.freeze({ device: t === 'gpu' ? gpu : cpu, index: native.defaultStreamIndex(code(t)) });
}

/**
 * Runs `fn` with `target` (a stream or a device) as the default for new operations, then
 * restores the previous defaults, as `with mx.stream(s):` does in Python.
 *
 * @example
 * const q = mx.withStream(mx.cpu, () => mx.linalg.qr(a));
 */
export function withStream<T>(target: Stream | Device | DeviceType, fn: () => T): T {
  const prevDevice = defaultDevice();
  const stream = typeof target === 'object' && 'device' in target ? target : defaultStream(toType(target as Device | DeviceType));
  const dcode = code(stream.device.type);
  const prevStream = native.defaultStreamIndex(dcode);
  native.setDefaultDevice(dcode);
  native.setDefaultStream(dcode, stream.index);
  try {
    const out = fn();
    if (out instanceof Promise) throw new TypeError('withStream(fn): fn must be synchronous');
    return out;
  } finally {
    native.setDefaultStream(dcode, prevStream);
    native.setDefaultDevice(code(prevDevice.type));
  }
}

/** Waits until all work queued on `stream` (default: the default stream) has finished. */
export function synchronize(stream: Stream = defaultStream()): void {
  native.synchronize(code(stream.device.type), stream.index);
}
