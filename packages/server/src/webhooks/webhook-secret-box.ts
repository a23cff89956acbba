import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Keyring } from '@gatehouse/core';

const FORMAT = 'ghenc1';
const KEY_NAME = 'data';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Webhook secrets must be usable again, so they are encrypted, never hashed: AES-256-GCM
 * under the keyring's newest `data` key, a random 96-bit IV, a 128-bit tag, and the
 * endpoint id as associated data (a ciphertext copied to another row does not open).
 * Text form: `ghenc1.<key name>.<key version>.<base64url iv>.<base64url ciphertext>.<base64url tag>`,
 * so a keyring rotation leaves old rows readable while their key version is kept.
 */
export class WebhookSecretBox {
  constructor(private readonly keyring: Keyring) {}

  seal(plaintext: string, endpointId: string): string {
    const { name, version, key } = this.keyring.current(KEY_NAME);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(`webhook_endpoint:${endpointId}`, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [
      FORMAT,
      name,
      version,
      iv.toString('base64url'),
      ciphertext.toString('base64url'),
      tag.toString('base64url'),
    ].join('.');
  }

  /** Throws a plain Error (never containing key or secret material) when the text does not open. */
  open(sealed: string, endpointId: string): string {
    const parts = sealed.split('.');
    const [format, name, versionText, ivText, ctText, tagText] = parts;
    if (parts.length !== 6 || format !== FORMAT || name === undefined || versionText === undefined) {
      throw new Error('webhook secret ciphertext is malformed');
    }
    const entry = this.keyring.get(name, Number(versionText));
    if (entry === undefined)
      throw new Error(`webhook secret is sealed under ${name}:${versionText}, which the keyring lacks`);
    const iv = Buffer.from(ivText ?? '', 'base64url');
    const tag = Buffer.from(tagText ?? '', 'base64url');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES)
      throw new Error('webhook secret ciphertext is malformed');
    const decipher = createDecipheriv('aes-256-gcm', entry.key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(`webhook_endpoint:${endpointId}`, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([
        decipher.update(Buffer.from(ctText ?? '', 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new Error('webhook secret ciphertext does not authenticate');
    }
  }
}
