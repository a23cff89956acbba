import {
  Account,
  CreateAccountRequest,
  GatehouseError,
  idPattern,
  ListQuery,
  listOf,
} from '@gatehouse/contract';
import { type AnyRoute, defineRoute, listResponse } from '../http/route.js';
import type { Runtime } from '../runtime.js';

const ACCOUNT_ID = idPattern('acct');

export function accountRoutes(rt: Runtime): AnyRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/v1/account',
      summary: 'The account of the calling key (use it to test a new key)',
      tag: 'accounts',
      auth: 'key',
      response: Account,
      handler: ({ caller }) => {
        const p = caller.principal;
        if (p.kind !== 'account') {
          throw new GatehouseError('resource_missing', {
            message: 'Operator keys do not belong to an account.',
          });
        }
        return rt.accounts.get(caller, p.accountId);
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/v1/accounts',
      summary: 'Create an account (operator)',
      tag: 'accounts',
      auth: 'operator',
      body: CreateAccountRequest,
      response: Account,
      handler: ({ caller, body }) => rt.accounts.create(caller, body),
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/accounts',
      summary: 'List accounts (operator)',
      tag: 'accounts',
      auth: 'operator',
      query: ListQuery,
      response: listOf(Account, 'AccountList'),
      handler: async ({ caller, query }) =>
        listResponse('/v1/accounts', await rt.accounts.list(caller, query)),
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/accounts/:id',
      summary: 'Retrieve an account (operator)',
      tag: 'accounts',
      auth: 'operator',
      response: Account,
      handler: ({ caller, params }) => {
        const id = params['id'] ?? '';
        if (!ACCOUNT_ID.test(id)) throw new GatehouseError('resource_missing', { param: 'id' });
        return rt.accounts.get(caller, id);
      },
    }),
  ];
}
