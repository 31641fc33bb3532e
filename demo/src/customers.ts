// The demo's two test customers: a task runs only for the one who deferred it.
import type { CheckoutForm } from './shop';

/** The first customer's checkout form, filled in with the test card. */
export const EMPTY_FORM: CheckoutForm = { name: 'Ada Lovelace', email: 'ada@example.com', address: '12 Analytical Row, London', card: '4242 4242 4242 4242', expiry: '12/30', cvc: '123' };

/** Two test customers, to show that a task runs only for the one who deferred it. */
export const CUSTOMERS = [
  { id: 'ada', form: EMPTY_FORM },
  { id: 'grace', form: { ...EMPTY_FORM, name: 'Grace Hopper', email: 'grace@example.com', address: '1 Compiler Way, Arlington' } },
] as const;
