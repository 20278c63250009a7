// Public surface of remote configuration: `[remote "NAME"]` groups of the repo config.
export {
  addRemote, deleteRemote, getRemote, listRemotes, parseSignVerifySpec, remoteBoolean, remoteGroup, remoteOption, signPolicy,
  type AddRemoteOptions, type RemoteConfig,
} from './config.ts';
export { loadRemoteKeyring } from './keys.ts';
