import {
  type ArgumentsHost,
  type CanActivate,
  Catch,
  type ExceptionFilter,
  type ExecutionContext,
  Inject,
  Injectable,
  SetMetadata,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ApiReply } from '@rein/contracts';
import type { Request, Response } from 'express';
import type { Authorizer } from './authorizer.js';
import type { Scope } from './scopes.js';

/** Nest token for the process's Authorizer (open, or from the tokens file). */
export const AUTHORIZER = Symbol('AUTHORIZER');

const REQUIRED_SCOPE = 'rein:required-scope';

/** Where ScopeGuard leaves, on the request, who it came from (`by` in command events). */
const BY = Symbol('rein:by');

/** The `by` of an HTTP request ScopeGuard let through: the token's name, `local` when the API is open. */
export function principalOf(req: object): string {
  return (req as { [BY]?: string })[BY] ?? 'local';
}

/** The `by` of an allowed access decision: the token's name, `local` when the API is open. */
export function byOf(decision: { readonly principal?: string }): string {
  return decision.principal ?? 'local';
}

/** The scope an HTTP handler needs. A handler without one needs `admin`: a forgotten route fails closed. */
export const RequireScope = (scope: Scope): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRED_SCOPE, scope);

/** Thrown by ScopeGuard; AccessDeniedFilter answers it as 401/403 in the error envelope. */
export class AccessDeniedException extends Error {
  constructor(
    readonly reply: ApiReply<never>,
    readonly challenge: string,
  ) {
    super(`access denied (HTTP ${reply.status})`);
    this.name = 'AccessDeniedException';
  }
}

/** Checks the request's bearer token against the handler's `@RequireScope`. */
@Injectable()
export class ScopeGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(AUTHORIZER) private readonly authorizer: Authorizer,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const needed =
      this.reflector.getAllAndOverride<Scope | undefined>(REQUIRED_SCOPE, [
        context.getHandler(),
        context.getClass(),
      ]) ?? 'admin';
    const req = context.switchToHttp().getRequest<Request>();
    const decision = this.authorizer.check(req.headers.authorization, needed);
    if (!decision.ok) throw new AccessDeniedException(decision.reply, decision.challenge);
    (req as { [BY]?: string })[BY] = byOf(decision);
    return true;
  }
}

/**
 * Writes ScopeGuard's refusal with its `WWW-Authenticate` challenge. Bound on the controller, so
 * Nest tries it before the global filter (which has no hint or challenge for a 401/403).
 */
@Catch(AccessDeniedException)
export class AccessDeniedFilter implements ExceptionFilter {
  catch(exception: AccessDeniedException, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    res.setHeader('WWW-Authenticate', exception.challenge);
    res.status(exception.reply.status).json(exception.reply.body);
  }
}
