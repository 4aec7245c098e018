import { maxHeaderSize, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { INestApplication } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import express from 'express';
import { errorEnvelope, problem } from '@rein/contracts';

/** Node's limit on a request's headers (16 KiB unless --max-http-header-size says otherwise), which a 431 names. */
const MAX_HEADER_BYTES = maxHeaderSize;

/**
 * The Express instance Nest serves on: its routes match case-sensitively (`/V1/RUNS` is a 404,
 * not `/v1/runs`). Express reads the setting once, when its router is made, so it is set before
 * Nest touches the instance.
 */
export function httpAdapter(): ExpressAdapter {
  return new ExpressAdapter(express().set('case sensitive routing', true));
}

/**
 * The requests Node's parser refuses before any handler runs — headers over 16 KiB, a method it
 * does not know, a `Content-Length` that is no number — answered in the error envelope like every
 * other error, not with Node's bare status line.
 */
export function guardHttp(app: INestApplication): void {
  const server = app.getHttpServer() as Server;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason, body] = answerOf(err.code);
    const text = JSON.stringify(body);
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
  });
}

function answerOf(code: string | undefined): [number, string, unknown] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [
        431,
        'Request Header Fields Too Large',
        errorEnvelope([
          problem(
            'too_large',
            `the request's headers are larger than ${MAX_HEADER_BYTES} bytes`,
            '',
            `send at most ${MAX_HEADER_BYTES} bytes of headers`,
          ),
        ]),
      ];
    case 'HPE_INVALID_METHOD':
      return [
        400,
        'Bad Request',
        errorEnvelope([
          problem('invalid_spec', 'unknown HTTP method', '', 'use GET or POST (see GET /v1/openapi.json)'),
        ]),
      ];
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return [
        400,
        'Bad Request',
        errorEnvelope([
          problem(
            'invalid_spec',
            'Content-Length is not a number of bytes',
            '',
            'send Content-Length as decimal digits, once',
          ),
        ]),
      ];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [
        408,
        'Request Timeout',
        errorEnvelope([
          problem('invalid_spec', 'the request took too long', '', 'send the whole request sooner'),
        ]),
      ];
    default:
      return [
        400,
        'Bad Request',
        errorEnvelope([
          problem(
            'invalid_spec',
            `the request is not valid HTTP (${code ?? 'parse error'})`,
            '',
            'send a valid HTTP/1.1 request',
          ),
        ]),
      ];
  }
}
