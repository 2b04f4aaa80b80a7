// Child process for reward-settle.test.ts: trains with a reward function whose promise never
// settles and nothing else pending, without catching the result (as a script would).
import { GRPOTrainer } from '../src/index.js';
import { arithmeticRecords, tempDir, tinyModel } from './trainer-fixture.js';

const stuck = () => new Promise<number[]>(() => {});
const trainer = new GRPOTrainer({
  model: await tinyModel(),
  rewardFuncs: [stuck],
  trainDataset: arithmeticRecords(4),
  config: {
    numGenerations: 2,
    perDeviceTrainBatchSize: 2,
    maxCompletionLength: 2,
    maxSteps: 1,
    bf16: false,
    gradientCheckpointing: false,
    outputDir: tempDir(),
  },
});
void trainer.train().then(() => console.log('training finished'));
