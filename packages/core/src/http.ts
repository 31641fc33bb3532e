// @halfsync/core/http: the durable HTTP task and the way to defer a request with it.
export { parentValue, type ParentPath, type ParentValueOptions, type PathOf } from './http-refs.js';
export { defaultHttpVerdict, type StoredBody, type StoredRequest, type HttpResult, type HttpResponseInfo, type HttpVerdict, type HttpTaskOptions, type HttpTaskDefinition } from './http-model.js';
export { createHttpTask, httpTask } from './http-task.js';
export { serializeRequest, deferFetch, withRequestKey, type RequestBodyLimits, type DeferFetchOptions } from './http-request.js';
