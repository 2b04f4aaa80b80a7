export declare const HUGGINGFACE_HUB_VERSION: string;
/** The reference Python with huggingface_hub at HUGGINGFACE_HUB_VERSION installed. */
export declare function hubPython(): string;
