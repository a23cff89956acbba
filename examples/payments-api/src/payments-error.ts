/** A refusal with a Stripe-like body: `{ error: { type, code, message, param?, request_id } }`. */
export class PaymentsError extends Error {
  readonly status: number;
  readonly type: string;
  readonly code: string;
  readonly param: string | undefined;

  constructor(status: number, type: string, code: string, message: string, param?: string) {
    super(message);
    this.name = 'PaymentsError';
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = param;
  }

  static invalid(code: string, message: string, param?: string): PaymentsError {
    return new PaymentsError(400, 'invalid_request_error', code, message, param);
  }

  static missing(param?: string): PaymentsError {
    return new PaymentsError(
      param ? 400 : 404,
      'invalid_request_error',
      'resource_missing',
      param ? `No such ${param}.` : 'No such object.',
      param,
    );
  }
}
