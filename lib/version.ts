/**
 * The SDK's version, as package.json gives it (a spec holds them equal). Recorded on the
 * outputs it makes.
 *
 * @since 0.2.0
 */
export const VERSION = '0.1.0'
