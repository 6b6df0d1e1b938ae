export const typeDefs = /* GraphQL */ `
  "A merchant that gives PerkUp members a discount."
  type Partner {
    id: ID!
    name: String!
    category: String!
    description: String
    address: String!
    city: String!
    "French postal code, e.g. 75002."
    zipCode: String!
    phone: String!
    email: String
    website: String
    "Discount in percent, 0–100."
    discount: Float!
    latitude: Float!
    longitude: Float!
    active: Boolean!
    "Incremented by every update; pass it as expectedVersion to refuse a concurrent overwrite."
    version: Int!
    createdAt: String!
    updatedAt: String!
  }

  type PartnerPage {
    items: [Partner!]!
    "Pass back to get the next page; null on the last page."
    nextToken: String
  }

  type NearbyPartner {
    partner: Partner!
    distanceKm: Float!
  }

  input PartnerInput {
    name: String!
    category: String!
    description: String
    address: String!
    city: String!
    zipCode: String!
    phone: String!
    email: String
    website: String
    discount: Float!
    latitude: Float!
    longitude: Float!
    active: Boolean
  }

  input PartnerUpdateInput {
    name: String
    category: String
    description: String
    address: String
    city: String
    zipCode: String
    phone: String
    email: String
    website: String
    discount: Float
    latitude: Float
    longitude: Float
    active: Boolean
    "When set, the update applies only if the partner is still at this version."
    expectedVersion: Int
  }

  type FieldError {
    field: String!
    message: String!
  }

  type PartnerMutationResponse {
    success: Boolean!
    message: String!
    partner: Partner
    "Present when the input was refused: every problem, by field."
    errors: [FieldError!]
  }

  type Query {
    partner(id: ID!): Partner
    partners(city: String, category: String, limit: Int = 20, nextToken: String): PartnerPage!
    "Partners within radiusKm (at most 100) of a point, nearest first; served by a geohash index."
    partnersNear(latitude: Float!, longitude: Float!, radiusKm: Float!, limit: Int = 20): [NearbyPartner!]!
  }

  type Mutation {
    createPartner(input: PartnerInput!, clientMutationId: String): PartnerMutationResponse!
    updatePartner(id: ID!, input: PartnerUpdateInput!): PartnerMutationResponse!
    deletePartner(id: ID!): PartnerMutationResponse!
  }
`;
