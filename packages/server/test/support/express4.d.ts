// express4 is Express 4 under another name (an npm alias), so both majors can be tested side by side; its API is
// typed as Express 5's, which is what the tests use of it.
declare module 'express4' {
  import express from 'express';
  export default express;
}
