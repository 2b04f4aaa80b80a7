export {
  constantSchedule,
  cosineDecay,
  exponentialDecay,
  joinSchedules,
  linearSchedule,
  stepDecay,
} from './schedules.js';
export type { Schedule } from './schedules.js';
