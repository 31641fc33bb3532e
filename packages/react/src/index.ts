export { HalfsyncProvider, useHalfsyncClient, type HalfsyncProviderProps } from './provider.js';
export { useDeferredAction, type DeferredAction, type DeferredActionOptions, type OptimisticItem, type RunResult } from './useDeferredAction.js';
export { useDeferredQueue, useDeferredTask, useHalfsyncMode, useSnapshot, type QueueFilter } from './useQueue.js';
export { useTaskSettled } from './useTaskSettled.js';
