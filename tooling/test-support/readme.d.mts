/** The ```ts blocks of `<pkgDir>/README.md`, in order. */
export declare function readmeBlocks(pkgDir: string): string[];
/**
 * A fresh project outside the repository with the built @mlxn packages (and the npm packages the
 * READMEs ask users to install) in its node_modules; `run` runs a block there as a user's module.
 */
export declare function readmeProject(pkgDir: string): { dir: string; run(code: string): string; dispose(): void };
/** Runs one README block in a fresh user project and returns its output. */
export declare function runReadmeBlock(pkgDir: string, code: string): string;
