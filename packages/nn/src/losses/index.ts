export type { AxisReductionOptions, BinaryCrossEntropyOptions, CrossEntropyOptions } from './classification.js';
export { binaryCrossEntropy, crossEntropy, hingeLoss, klDivLoss, nllLoss } from './classification.js';
export type { Reduction } from './reduce.js';
export type { ReductionOptions } from './regression.js';
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
