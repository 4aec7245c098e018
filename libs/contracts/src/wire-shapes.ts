import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { TSchema } from '@sinclair/typebox';
import { ErrorCodeSchema, ErrorEnvelopeSchema, ProblemSchema } from './errors.js';
import { ApprovalDecisionSchema, CancelRequestSchema, RollbackRequestSchema } from './request-bodies.js';

/**
 * The shapes defined once in TypeBox, by the OpenAPI component name they are published under.
 * openapi.ts embeds them as they are; `wireValidator` compiles the same objects, resolving their
 * `#/components/schemas/…` references among themselves exactly as a client of the document does.
 */
export const wireComponents = {
  ErrorCode: ErrorCodeSchema,
  Problem: ProblemSchema,
  Error: ErrorEnvelopeSchema,
  CancelRequest: CancelRequestSchema,
  RollbackRequest: RollbackRequestSchema,
  ApprovalDecision: ApprovalDecisionSchema,
} as const satisfies Record<string, TSchema>;

export type WireComponent = keyof typeof wireComponents;

const WIRE_ID = 'urn:rein:wire';
let ajv: Ajv2020 | undefined;

/** An Ajv validator of one wire shape, compiled once. */
export function wireValidator(name: WireComponent): ValidateFunction {
  if (!ajv) {
    ajv = new Ajv2020({ allErrors: true, strict: true });
    // The components live where the OpenAPI document has them, so their refs need no rewriting;
    // `components` is only a container here, not a keyword to evaluate.
    ajv.addKeyword('components');
    ajv.addSchema({ $id: WIRE_ID, components: { schemas: wireComponents } });
  }
  const validate = ajv.getSchema(`${WIRE_ID}#/components/schemas/${name}`);
  if (!validate) throw new Error(`no wire shape ${name}`);
  return validate;
}
