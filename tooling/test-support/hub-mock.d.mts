export interface MockHubRepo {
  /** The token a gated repository wants (`Authorization: Bearer <token>`); without it, 401. */
  token?: string;
  /** Branch and tag names → commit hashes. */
  refs: Record<string, string>;
  /** Commit hash → its files (top level), contents as Buffer or string. */
  commits: Record<string, { files: Record<string, Buffer | string> }>;
}
export interface MockHubRequest {
  method: string;
  path: string;
  range?: string;
  auth?: string;
}
export interface MockHub {
  /** Use as HF_ENDPOINT. */
  endpoint: string;
  requests: MockHubRequest[];
  dropAfter(sha256: string, bytes: number, times?: number): void;
  stallAfter(sha256: string, bytes: number): void;
  sha256(buf: Buffer): string;
  gitBlobId(buf: Buffer): string;
  close(): Promise<void>;
}
/** Files of a folder as { name: Buffer } (top level, regular files). */
export declare function filesOfFolder(folder: string): Record<string, Buffer>;
/** A mock of the hub's HTTP API on 127.0.0.1 (see hub-mock.mjs for the endpoints). */
export declare function startHubMock(options: {
  repos: Record<string, MockHubRepo>;
  pageSize?: number;
  renamed?: Record<string, string>;
}): Promise<MockHub>;
