export { createClient } from './client.js';
export { defineTask } from './task.js';
export { HalfsyncError, PermanentError, RetryableError } from './errors.js';
//# sourceMappingURL=index.js.map