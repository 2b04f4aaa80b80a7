export { binaryCrossEntropy, crossEntropy, hingeLoss, klDivLoss, nllLoss } from './classification.js';
export type { AxisReductionOptions, BinaryCrossEntropyOptions, CrossEntropyOptions } from './classification.js';
export {
  cosineSimilarityLoss,
  gaussianNllLoss,
  huberLoss,
  l1Loss,
  logCoshLoss,
  marginRankingLoss,
  mseLoss,
  smoothL1Loss,
  tripletLoss,
} from './regression.js';
export type { ReductionOptions } from './regression.js';
export type { Reduction } from './reduce.js';
