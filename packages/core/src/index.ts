export { createClient, type HalfsyncClient, type ClientOptions, type ClientMode, type DeferOptions, type DeferHandle, type ServiceWorkerOption, type ClientQuery, type TaskPage } from './client.js';
export { DeferredActionObserver, type DeferredActionOptions, type DeferredActionState, type OptimisticItem, type RunResult } from './action.js';
export type { TaskSelector, TaskSlice } from './model.js';
export type { PageOptions } from './store/query.js';
export { defineTask, defineBatchTask, type TaskDefinition, type TaskContext, type TaskOptions, type BatchTaskOptions, type BatchContext, type BatchOptions, type BatchOutput, type LaneFailurePolicy, type RetryPolicy, type RetentionPolicy, type AnyTaskDefinition, type PayloadOf, type ResultOf } from './task.js';
export { HalfsyncError, PermanentError, RetryableError, UnreachableError, type HalfsyncErrorCode, type HalfsyncErrorOptions, type TaskErrorOptions } from './errors.js';
export type { Task, TaskStatus, TaskError, FailureKind, TaskMeta, TaskTry } from './record.js';
export type { DrainSummary } from './executor.js';
export { recoverStorage } from './store/delete.js';
