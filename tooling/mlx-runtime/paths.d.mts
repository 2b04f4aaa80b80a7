/** Types of paths.mjs, for the TypeScript tests that check core agrees with it. */
export declare const pin: { version: string } & Record<string, unknown>;
export declare function platformKey(): string;
export declare function cacheRoot(): string;
/** The prefix (include/, lib/) of the pinned prebuilt runtime for this platform. */
export declare function runtimePrefix(): string;
