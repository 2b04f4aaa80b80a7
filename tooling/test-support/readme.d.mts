/** The ```ts blocks of `<pkgDir>/README.md`, in order. */
export declare function readmeBlocks(pkgDir: string): string[];
/** Runs one README block against the built package and returns its output. */
export declare function runReadmeBlock(pkgDir: string, code: string): string;
