/** A partner merchant as stored and as served by GraphQL. */
export interface Partner {
  id: string;
  name: string;
  category: string;
  description?: string;
  address: string;
  city: string;
  zipCode: string;
  phone: string;
  email?: string;
  website?: string;
  /** Percentage, 0–100. */
  discount: number;
  latitude: number;
  longitude: number;
  active: boolean;
  /** Incremented by every write; updates are conditional on it (optimistic concurrency). */
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** The fields a client sets; the rest (id, version, timestamps) belong to the server. */
export const EDITABLE_FIELDS = [
  'name',
  'category',
  'description',
  'address',
  'city',
  'zipCode',
  'phone',
  'email',
  'website',
  'discount',
  'latitude',
  'longitude',
  'active',
] as const;

export type EditableField = (typeof EDITABLE_FIELDS)[number];
export type PartnerInput = Pick<
  Partner,
  'name' | 'category' | 'address' | 'city' | 'zipCode' | 'phone' | 'discount' | 'latitude' | 'longitude'
> &
  Partial<Pick<Partner, 'description' | 'email' | 'website' | 'active'>>;
export type PartnerUpdate = Partial<Pick<Partner, EditableField>>;

/** Case- and accent-insensitive key for a city or category, so "Paris", "paris " and "PARIS" match each other. */
export function placeKey(value: string): string {
  return value
    .trim()
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toLowerCase()
    .replace(/\s+/g, ' ');
}

/** What changed between two versions of a partner: the field names whose values differ. */
export function changedFields(before: Partner, after: Partner): EditableField[] {
  return EDITABLE_FIELDS.filter((field) => before[field] !== after[field]);
}
