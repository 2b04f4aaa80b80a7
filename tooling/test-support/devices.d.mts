/** The part of `@mlxn/core` these helpers use (passed in: test-support does not depend on it). */
interface DeviceApi {
  defaultDevice(): { type: 'cpu' | 'gpu'; index: number };
  setDefaultDevice(device: 'cpu' | 'gpu'): void;
}
/** Whether `mx`'s default device is a GPU (the CUDA runtime is loaded). */
export declare function onGpu(mx: DeviceApi): boolean;
/** Runs the calling file's tests with the CPU as the default device; a no-op where it already is. */
export declare function useCpuDevice(mx: DeviceApi): void;
/** Wraps a test body so it runs with the CPU as the default device on a GPU machine too. */
export declare function onCpuDevice<T>(mx: DeviceApi, body: () => T | Promise<T>): () => Promise<T>;
