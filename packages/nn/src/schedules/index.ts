export type { Schedule } from './schedules.js';
export {
  constantSchedule,
  cosineDecay,
  exponentialDecay,
  joinSchedules,
  linearSchedule,
  stepDecay,
} from './schedules.js';
