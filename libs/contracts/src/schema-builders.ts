import { type ObjectOptions, type Static, type TProperties, type TSchema, Type } from '@sinclair/typebox';

/**
 * The few TypeBox builders the wire shapes share. Each writes the plain JSON Schema keyword
 * (`enum`, `propertyNames`, `additionalProperties: false`) that Ajv turns into one precise
 * error, where TypeBox's own union and record builders would publish `anyOf` of `const`s and
 * `patternProperties`.
 */

/** An object that admits only the properties listed. */
export function closedObject<P extends TProperties>(
  description: string,
  properties: P,
  options: ObjectOptions = {},
) {
  return Type.Object(properties, { additionalProperties: false, description, ...options });
}

/** One of `values`, as a JSON Schema `enum`, typed as their union. */
export function enumOf<const V extends readonly (string | number | boolean)[]>(
  values: V,
  description?: string,
) {
  return Type.Unsafe<V[number]>(description === undefined ? { enum: values } : { enum: values, description });
}

/** A string-keyed map whose keys match `propertyNames` and whose values are `value`. */
export function mapOf<V extends TSchema>(
  value: V,
  propertyNames: Record<string, unknown>,
  description: string,
) {
  return Type.Unsafe<Record<string, Static<V>>>({
    type: 'object',
    propertyNames,
    additionalProperties: value,
    description,
  });
}

/**
 * A reference to the OpenAPI component `name`, typed as the schema it names. Shapes that share a
 * part refer to it by the name it is published under, so the document keeps one copy of it and
 * a validator compiled from `WIRE_COMPONENTS` resolves it the same way.
 */
export function componentRef<T extends TSchema>(name: string, _schema: T) {
  return Type.Unsafe<Static<T>>({ $ref: `#/components/schemas/${name}` });
}

/** An object that may carry fields not listed (events and settings gain fields across versions). */
export function openObject<P extends TProperties>(description: string, properties: P) {
  return Type.Object(properties, { description });
}

/** An array, typed readonly as every list the API hands out (TypeBox's arrays are mutable). */
export function readonlyList<T extends TSchema>(items: T, description: string) {
  return Type.Unsafe<readonly Static<T>[]>(Type.Array(items, { description }));
}

/** A value or null, as one `type` list rather than a union, so a wrong value gets one error. */
export function nullable<T extends 'string' | 'integer'>(type: T, description: string) {
  return Type.Unsafe<(T extends 'string' ? string : number) | null>({ type: [type, 'null'], description });
}

/**
 * A list naming every member of the union `T`: a member added to `T` but not here is a compile
 * error, so an enum cannot fall behind the type it publishes.
 */
export function every<T extends string>() {
  return <const L extends readonly T[]>(
    list: L & ([T] extends [L[number]] ? unknown : { missing: Exclude<T, L[number]> }),
  ): L => list;
}

/** `value`, frozen all the way down (an object already frozen is taken to be frozen throughout). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
