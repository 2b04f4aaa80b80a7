// The pinned CUDA runtime. tooling/mlx-runtime/pin.json stays the one place pins are written;
// tsup inlines it into dist/, so an installed @mlxn/core carries the same pins as the checkout.
import pin from '../../../../tooling/mlx-runtime/pin.json' with { type: 'json' };

export interface PinnedWheel {
  package: string;
  version: string;
  file: string;
  sha256: string;
}

export const MLX_VERSION: string = pin.version;

/** Apple's mlx-cuda-13 wheel and the NVIDIA wheels it needs, each by version and SHA-256. */
export const CUDA_WHEELS: readonly PinnedWheel[] = pin.distributions['linux-x64-cuda13'].wheels;
