// The config file: what it may say and how it is checked (schema), and the edits authd makes to it
// that keep the rest of the file (editor). A config holds no secrets.
export {
  type ClientAuth,
  type Config,
  type Flow,
  type GitAuth,
  GITHUB_ACTIONS_ENV,
  identity,
  isInteractive,
  isLoopbackUrl,
  isWorkload,
  loadConfig,
  loginName,
  type LoopbackRedirect,
  type MaxAge,
  loopbackRedirect,
  parseConfig,
  type ProfileConfig,
  type StoreChoice,
  type SubjectTokenPlatform,
} from './schema.js';
export { addProfile, removeProfile, setDefaultProfile, setStoreChoice } from './editor.js';
