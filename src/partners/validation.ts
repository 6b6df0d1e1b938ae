import { EDITABLE_FIELDS, type PartnerInput, type PartnerUpdate } from './model.js';

export interface FieldError {
  field: string;
  message: string;
}

/** Thrown when input is refused; carries every problem so the client can fix them in one go. */
export class ValidationError extends Error {
  override name = 'ValidationError';
  constructor(readonly errors: FieldError[]) {
    super(`Invalid input: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
  }
}

const LIMITS = { name: 120, category: 60, city: 80, address: 200, description: 2000, email: 254, website: 2048 } as const;

// French postal codes: 5 digits, departments 01–95 (Corsica is 20xxx), overseas 97x/98x.
const FRENCH_ZIP = /^(?:0[1-9]|[1-8]\d|9[0-8])\d{3}$/;
// French numbers: 0X XX XX XX XX or +33 X XX XX XX XX, with spaces, dots or dashes between groups.
const FRENCH_PHONE = /^(?:\+33\s?|0033\s?|0)[1-9](?:[\s.-]?\d{2}){4}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

type Draft = Record<string, unknown>;

/**
 * `required`: must be present (a create). `nonBlank`: when present, must not be blank — true for the fields a partner
 * cannot lack, on an update too (a blank city would also be an empty index key, which DynamoDB refuses).
 */
function text(draft: Draft, errors: FieldError[], field: keyof typeof LIMITS, required: boolean, nonBlank: boolean): void {
  const value = draft[field];
  if (value === undefined || value === null) {
    if (required) errors.push({ field, message: 'is required' });
    return;
  }
  if (typeof value !== 'string') return void errors.push({ field, message: 'must be a string' });
  const trimmed = value.trim();
  if (nonBlank && trimmed.length === 0) return void errors.push({ field, message: 'must not be empty' });
  if (trimmed.length > LIMITS[field]) return void errors.push({ field, message: `must be at most ${LIMITS[field]} characters` });
  draft[field] = trimmed;
}

function numberIn(draft: Draft, errors: FieldError[], field: string, min: number, max: number, required: boolean): void {
  const value = draft[field];
  if (value === undefined || value === null) {
    if (required) errors.push({ field, message: 'is required' });
    return;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return void errors.push({ field, message: 'must be a number' });
  if (value < min || value > max) return void errors.push({ field, message: `must be between ${min} and ${max}` });
  draft[field] = storableNumber(value);
}

/**
 * DynamoDB numbers stop at a magnitude of 1e-130: a smaller one (5e-324 is a valid JSON/GraphQL Float) is refused
 * with "Number underflow" on write. Such a value is zero for every field we store, so it is stored as 0.
 */
export function storableNumber(value: number): number {
  return Math.abs(value) < 1e-130 ? 0 : value;
}

function pattern(draft: Draft, errors: FieldError[], field: string, regex: RegExp, what: string, required: boolean): void {
  const value = draft[field];
  if (value === undefined || value === null) {
    if (required) errors.push({ field, message: 'is required' });
    return;
  }
  if (typeof value !== 'string') return void errors.push({ field, message: `must be ${what}` });
  const limit = field in LIMITS ? LIMITS[field as keyof typeof LIMITS] : 64;
  // Length first: a regex over megabytes of hostile input costs time before it fails.
  if (value.length > limit) return void errors.push({ field, message: `must be at most ${limit} characters` });
  if (!regex.test(value.trim())) return void errors.push({ field, message: `must be ${what}` });
  draft[field] = value.trim();
}

function validate(input: Draft, required: boolean): FieldError[] {
  const errors: FieldError[] = [];
  text(input, errors, 'name', required, true);
  text(input, errors, 'category', required, true);
  text(input, errors, 'city', required, true);
  text(input, errors, 'address', required, true);
  text(input, errors, 'description', false, false);
  pattern(input, errors, 'zipCode', FRENCH_ZIP, 'a French postal code (5 digits, e.g. 75002)', required);
  pattern(input, errors, 'phone', FRENCH_PHONE, 'a French phone number (e.g. 01 42 60 30 30 or +33 1 42 60 30 30)', required);
  pattern(input, errors, 'email', EMAIL, 'an email address', false);
  numberIn(input, errors, 'discount', 0, 100, required);
  numberIn(input, errors, 'latitude', -90, 90, required);
  numberIn(input, errors, 'longitude', -180, 180, required);
  if (typeof input.website === 'string' && input.website.length > LIMITS.website) {
    errors.push({ field: 'website', message: `must be at most ${LIMITS.website} characters` });
  } else if (input.website !== undefined && input.website !== null) {
    try {
      const url = new URL(String(input.website));
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
    } catch {
      errors.push({ field: 'website', message: 'must be an http(s) URL' });
    }
  }
  if (input.active !== undefined && input.active !== null && typeof input.active !== 'boolean') {
    errors.push({ field: 'active', message: 'must be a boolean' });
  }
  return errors;
}

/** Fields a partner may lack: an explicit null means "none" and is never stored as null. */
const CLEARABLE = new Set<string>(['description', 'email', 'website']);

/**
 * Validates and normalises (trims) a new partner; throws ValidationError listing every problem. An explicit null is
 * "absent" for the optional fields and refused for the others (a stored null `active` broke every listing).
 */
export function validatePartnerInput(input: PartnerInput): PartnerInput {
  const draft: Draft = {};
  const nulls: FieldError[] = [];
  for (const field of EDITABLE_FIELDS) {
    const value = (input as Draft)[field];
    if (value === null && field === 'active') nulls.push({ field, message: 'cannot be null' });
    else if (value !== undefined && value !== null) draft[field] = value;
  }
  const errors = [...validate(draft, true), ...nulls];
  if (errors.length) throw new ValidationError(errors);
  return draft as unknown as PartnerInput;
}

/** Validates a partial update: only the fields present are checked; an empty update is refused. */
export function validatePartnerUpdate(input: PartnerUpdate): PartnerUpdate {
  const draft: Draft = {};
  const nullFields: string[] = [];
  for (const field of EDITABLE_FIELDS) {
    if (input[field] === null) nullFields.push(field);
    else if (input[field] !== undefined) draft[field] = input[field];
  }
  const errors = validate(draft, false);
  // An explicit null on a required field would erase it.
  for (const field of nullFields) {
    if (!CLEARABLE.has(field)) errors.push({ field, message: 'cannot be null' });
    else draft[field] = undefined;
  }
  if (Object.keys(draft).length === 0 && errors.length === 0) errors.push({ field: 'input', message: 'must change at least one field' });
  if (errors.length) throw new ValidationError(errors);
  return draft as PartnerUpdate;
}
