import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import { errorEnvelope, problem } from '@rein/contracts';
import type { Response } from 'express';

/** Every HTTP error in DESIGN.md's envelope, including body-parser and routing errors. */
@Catch()
export class HttpErrorsFilter implements ExceptionFilter {
  constructor(private readonly maxBytes: number) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const e = exception as { status?: number; statusCode?: number; type?: string; message?: string };
    if (e?.type === 'entity.too.large' || e?.status === 413) {
      res
        .status(413)
        .json(
          errorEnvelope([
            problem(
              'too_large',
              `request body is larger than ${this.maxBytes} bytes`,
              '',
              `send at most ${this.maxBytes} bytes`,
            ),
          ]),
        );
      return;
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const code =
        status === 404
          ? 'not_found'
          : status === 401
            ? 'unauthorized'
            : status === 403
              ? 'forbidden'
              : status === 415
                ? 'unsupported_media_type'
                : 'invalid_spec';
      res
        .status(status)
        .json(
          errorEnvelope([
            problem(
              code,
              exception.message,
              '',
              status === 404 ? 'see GET /v1/openapi.json for the API' : '',
            ),
          ]),
        );
      return;
    }
    if (e?.type === 'entity.parse.failed' || e?.status === 400) {
      res
        .status(400)
        .json(errorEnvelope([problem('invalid_spec', e.message ?? 'bad request', '', 'send a valid body')]));
      return;
    }
    // Unexpected: do not leak internals.
    console.error('[rein] unhandled error', exception);
    res.status(500).json({
      error: { code: 'internal', message: 'internal error', path: '', hint: 'see the server log' },
      errors: [],
    });
  }
}
