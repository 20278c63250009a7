// Public surface of the GVariant codec.
export { serialize, offsetWidthFor, type GValue, type Variant } from './serialize.ts';
export { deserialize, type DeserializeOptions } from './deserialize.ts';
export { parseType, isValidType, type GType } from './type.ts';
export { formatGVariant, printGVariant } from './print.ts';
export { bswap32, bswap64, dictGet, variant, type VarDict } from './helpers.ts';
export { GHashOrder, gStrHash, hashOrderedDict } from './ghash-order.ts';
