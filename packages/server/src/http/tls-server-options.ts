/**
 * What every HTTPS server Gatehouse builds accepts (the app's own, and the gateway listener's):
 * TLS 1.2 and 1.3, and under 1.2 only forward-secret AEAD suites, Mozilla's "intermediate"
 * list (ssl-config.mozilla.org) without its DHE suites, which
 * node never negotiates without DH parameters. No static-RSA key exchange, no CBC, no SHA-1.
 * The TLS 1.3 suites are named too: node turns TLS 1.3 off when the list names none. The
 * client picks among them (all are fine), so TLS 1.3 wins whenever it offers it.
 */
export const TLS_SERVER_OPTIONS = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
} as const;
