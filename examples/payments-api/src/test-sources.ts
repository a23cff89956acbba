/** Test-mode tokens and what a payment made with each does, after Stripe's test cards. */
export const TEST_SOURCES: Readonly<
  Record<string, { failure_code: string; failure_message: string } | null>
> = {
  tok_visa: null,
  tok_mastercard: null,
  tok_amex: null,
  tok_chargeDeclined: { failure_code: 'card_declined', failure_message: 'The card was declined.' },
  tok_insufficientFunds: {
    failure_code: 'insufficient_funds',
    failure_message: 'The card has insufficient funds.',
  },
  tok_expiredCard: { failure_code: 'expired_card', failure_message: 'The card has expired.' },
  tok_incorrectCvc: { failure_code: 'incorrect_cvc', failure_message: 'The security code is incorrect.' },
  tok_fraudulent: { failure_code: 'card_declined', failure_message: 'The card was declined.' },
};
