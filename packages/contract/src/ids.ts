/** Object id prefixes: every id is `<prefix>_<ulid>`. */
export const ID_PREFIXES = {
  account: 'acct',
  key: 'key',
  webhookEndpoint: 'we',
  event: 'evt',
  delivery: 'del',
  request: 'req',
  audit: 'aud',
  subject: 'sub',
  user: 'usr',
} as const;
export type IdPrefix = (typeof ID_PREFIXES)[keyof typeof ID_PREFIXES];

const ULID = '[0-9A-HJKMNP-TV-Z]{26}';
export function idPattern(prefix: IdPrefix): RegExp {
  return new RegExp(`^${prefix}_${ULID}$`);
}
