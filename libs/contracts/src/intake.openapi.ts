/**
 * Tracker intake's HTTP operations and shapes in the OpenAPI document (docs/intake.md): the
 * status of each tracker (GET /v1/intake) and the webhook a tracker calls
 * (POST /v1/intake/{tracker}/webhook). The status shape is libs/intake's IntakeStatusBody; the
 * intake e2e validates a real answer against it.
 */
type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema) => ({ 'application/json': { schema } });
const nullable = (type: string, description: string): Schema => ({ type: [type, 'null'], description });
const closed = (description: string, properties: Record<string, Schema>): Schema => ({
  type: 'object',
  description,
  additionalProperties: false,
  required: Object.keys(properties),
  properties,
});

export const INTAKE_COMPONENTS: Record<string, Schema> = {
  IntakeStatus: closed('Tracker intake: the intake file and each tracker it names.', {
    enabled: { type: 'boolean', description: 'False when the server runs without --intake.' },
    file: nullable('string', 'The intake file, as an absolute path.'),
    loadedAt: nullable('string', 'When the config in force was read (ISO 8601).'),
    refused: {
      description: 'The last change of the file that was refused; the config before it stays in force.',
      oneOf: [
        { type: 'null' },
        closed('A refused reload.', {
          at: { type: 'string', description: 'When (ISO 8601).' },
          problems: { type: 'array', items: ref('Problem') },
        }),
      ],
    },
    trackers: { type: 'array', items: ref('IntakeTracker') },
  }),
  IntakeTracker: closed('One tracker: its polls, whether it answers, and the issues it claimed.', {
    name: { type: 'string', description: 'As in the intake file and the webhook path.' },
    kind: { enum: ['github', 'linear'] },
    reachable: { type: 'boolean', description: 'Whether the last poll reached the tracker.' },
    lastPollAt: nullable('string', 'When the last poll ended (ISO 8601); null before the first.'),
    lastError: nullable('string', 'Why the last poll failed, if it did (never a credential).'),
    pollIntervalMs: { type: 'integer', minimum: 1000 },
    webhook: { type: 'boolean', description: 'Whether it takes webhooks (it has a webhookSecret).' },
    problems: {
      type: 'array',
      items: { type: 'string' },
      description: 'Records the tracker sent that were refused, issues whose run spec did not render.',
    },
    claims: { type: 'array', items: ref('IntakeClaim') },
  }),
  IntakeClaim: closed('An issue that became a run (once per eligible state).', {
    key: { type: 'string', description: 'The idempotency key: `intake:<tracker>:<issue id>:<state>`.' },
    issueId: { type: 'string' },
    identifier: { type: 'string', description: 'owner/repo#12, ENG-12.' },
    state: { type: 'string', description: 'The state that made it eligible.' },
    runId: nullable('string', 'Null when the key names a run of another spec (the issue changed).'),
    status: {
      enum: ['unknown', 'running', 'review', 'succeeded', 'failed', 'cancelled'],
      description: '`review`: running, a task waits for an approval.',
    },
    written: nullable('string', 'The status last written back to the issue and acknowledged.'),
    cancelled: nullable('string', 'Why intake cancelled the run, if it did.'),
  }),
};

const problems = (description: string, codes: readonly string[]): Schema => ({
  description: `${description} Codes: ${codes.join(', ')}.`,
  content: json({
    allOf: [
      ref('Error'),
      { type: 'object', properties: { error: { type: 'object', properties: { code: { enum: codes } } } } },
    ],
  }),
});

export const INTAKE_PATHS: Record<string, Record<string, unknown>> = {
  '/v1/intake': {
    get: {
      operationId: 'getIntake',
      tags: ['intake'],
      summary:
        'Tracker intake: per tracker, the last poll, its error, whether it answers, the claimed issues and runs',
      responses: { '200': { description: 'The intake status.', content: json(ref('IntakeStatus')) } },
    },
  },
  '/v1/intake/{tracker}/webhook': {
    parameters: [
      {
        name: 'tracker',
        in: 'path',
        required: true,
        description: "The tracker's name in the intake file.",
        schema: { type: 'string' },
      },
    ],
    post: {
      operationId: 'intakeWebhook',
      tags: ['intake'],
      summary:
        "A tracker's webhook: checked by its signature over the raw body (GitHub X-Hub-Signature-256, Linear " +
        "Linear-Signature) under the secret the tracker's webhookSecret names, not by a bearer token; then the " +
        'tracker is polled at once (polling stays the safety net)',
      security: [],
      parameters: [
        {
          name: 'X-Hub-Signature-256',
          in: 'header',
          description: 'GitHub: `sha256=` and the hex HMAC-SHA256 of the body.',
          schema: { type: 'string' },
        },
        {
          name: 'Linear-Signature',
          in: 'header',
          description: 'Linear: the hex HMAC-SHA256 of the body.',
          schema: { type: 'string' },
        },
      ],
      requestBody: {
        required: false,
        description: "The tracker's event, as it sends it; only its signature is read.",
        content: { 'application/json': { schema: { type: 'object' } } },
      },
      responses: {
        '202': {
          description: 'The signature holds; the tracker is being polled.',
          content: json(
            closed('The poll started.', { tracker: { type: 'string' }, polling: { const: true } }),
          ),
        },
        '401': problems('The signature is missing or does not match the body.', ['unauthorized']),
        '403': problems('The tracker has no webhookSecret, so it takes no webhooks.', ['forbidden']),
        '404': problems('No tracker of that name (or no intake file).', ['not_found']),
      },
    },
  },
};
