// What each rank of a local job needs in its environment, by backend, following MLX's own
// launcher (`mlx.launch`): the ring backend reads MLX_RANK and a host file (MLX_HOSTFILE, one
// list of "ip:port" per rank); NCCL reads MLX_RANK, MLX_WORLD_SIZE and the rendezvous address
// of rank 0 (NCCL_HOST_IP, NCCL_PORT), with one GPU per process.

export type LaunchBackend = 'ring' | 'nccl';

export interface LaunchPlan {
  /** Number of processes. */
  n: number;
  backend: LaunchBackend;
  /** Ring: the host file's path (its contents come from `ringHostfile`). */
  hostfile?: string;
  /** NCCL: rank 0's rendezvous port on 127.0.0.1. */
  ncclPort?: number;
}

/** The ring backend's host file for ranks listening on 127.0.0.1 at `ports`. */
export function ringHostfile(ports: readonly number[]): string {
  return JSON.stringify(ports.map((p) => [`127.0.0.1:${p}`]));
}

/** The variables to add to rank `rank`'s environment. */
export function rankEnvironment(plan: LaunchPlan, rank: number): Record<string, string> {
  const env: Record<string, string> = { MLX_RANK: String(rank) };
  if (plan.backend === 'ring') {
    if (plan.hostfile === undefined) throw new Error('mlxn-launch: the ring backend needs a host file');
    env.MLX_HOSTFILE = plan.hostfile;
  } else {
    if (plan.ncclPort === undefined) throw new Error('mlxn-launch: the NCCL backend needs a port');
    env.MLX_WORLD_SIZE = String(plan.n);
    env.NCCL_HOST_IP = '127.0.0.1';
    env.NCCL_PORT = String(plan.ncclPort);
    env.CUDA_VISIBLE_DEVICES = String(rank);
  }
  return env;
}
