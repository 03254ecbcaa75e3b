/**
 * `autoDispatcher` picks a dispatcher for the environment, as a pure function of an
 * environment *record* (never `process.env` itself) and what the user asked for:
 * - the crunch *work role* when the program was started as a container's work step;
 * - the crunch *runner* when asked (`--dispatcher crunch`, `CRUNCH_DISPATCHER=crunch`);
 * - otherwise the local dispatcher.
 * Asking for a dispatcher that cannot work here fails with an error naming what is missing.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as Dispatcher from '../dispatcher.js'
import * as Errors from '../errors.js'
import type * as Local from './local.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export type Choice = 'local' | 'crunch'

/**
 * @category models
 * @since 0.1.0
 */
export interface AutoInput {
  readonly env: Readonly<Record<string, string | undefined>>
  /** what the user asked for on the command line, if anything */
  readonly requested?: Choice | 'auto'
  readonly local?: Local.LocalOptions
}

/**
 * How to build each dispatcher. `crunch` is absent in builds without Arvados support.
 *
 * @category models
 * @since 0.1.0
 */
export interface Makers {
  readonly local: (options: Local.LocalOptions) => Dispatcher.Dispatcher
  readonly crunch?: (env: Readonly<Record<string, string | undefined>>) => E.Either<Errors.SdkError, Dispatcher.Dispatcher>
}

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

const unknownChoice = (value: string) =>
  Errors.make('DispatcherChoiceError', 'ARV_DISPATCHER_CHOICE', `unknown dispatcher "${value}"`, { value }, { hint: 'use --dispatcher local, crunch or auto (or CRUNCH_DISPATCHER=...)' })

const crunchUnavailable = (missing: ReadonlyArray<string>) =>
  Errors.make(
    'DispatcherUnavailableError',
    'ARV_DISPATCHER_UNAVAILABLE',
    `the crunch dispatcher cannot run here: ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not set`,
    { dispatcher: 'crunch', missing },
    { hint: 'set ARVADOS_API_HOST and ARVADOS_API_TOKEN (or ~/.config/arvados/settings.conf), or run with --dispatcher local' },
  )

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The local dispatcher, loaded on its first run (so importing this module does not load the
 * interpreter).
 *
 * @category constructors
 * @since 0.2.0
 */
export const lazyLocal = (options: Local.LocalOptions): Dispatcher.Dispatcher => ({
  name: options.isolation === 'process' ? 'local (process isolation)' : 'local',
  run: (module, params, runOptions) => async () => {
    const Local = await import('./local.js')
    return Local.make(options).run(module, params, runOptions)()
  },
})

// -------------------------------------------------------------------------------------
// constructors (choice)
// -------------------------------------------------------------------------------------

/**
 * Which dispatcher the input asks for. Pure.
 *
 * @category constructors
 * @since 0.1.0
 */
export const choose = (input: AutoInput): E.Either<Errors.SdkError, Choice> => {
  const asked = input.requested ?? input.env['CRUNCH_DISPATCHER'] ?? 'auto'
  switch (asked) {
    case 'local':
    case 'crunch':
      return E.right(asked)
    case 'auto':
    case '':
      return E.right(input.env['CRUNCH_ROLE'] === 'work' || input.env['CRUNCH_ROLE'] === 'runner' ? 'crunch' : 'local')
    default:
      return E.left(unknownChoice(asked))
  }
}

/**
 * Picks and builds the dispatcher, or says why none fits.
 *
 * @category constructors
 * @since 0.1.0
 */
export const autoDispatcher = (input: AutoInput, makers: Makers = { local: lazyLocal }): E.Either<Errors.SdkError, Dispatcher.Dispatcher> => {
  const choice = choose(input)
  if (E.isLeft(choice)) return choice
  if (choice.right === 'local') return E.right(makers.local(input.local ?? {}))
  if (makers.crunch !== undefined) return makers.crunch(input.env)
  const missing = ['ARVADOS_API_HOST', 'ARVADOS_API_TOKEN'].filter((k) => (input.env[k] ?? '') === '')
  if (missing.length > 0) return E.left(crunchUnavailable(missing))
  return E.left(
    Errors.make('DispatcherUnavailableError', 'ARV_DISPATCHER_UNAVAILABLE', 'the crunch dispatcher was not given to autoDispatcher', { dispatcher: 'crunch', missing: [] }, {
      hint: 'pass makers.crunch, or run the script with the `crunch` command, which knows both dispatchers',
    }),
  )
}
