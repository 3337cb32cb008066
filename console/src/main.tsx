import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { call, clientFor, forgetToken, keepToken, storedToken, TOKEN_PATTERN } from './api.js';
import { ErrorBox } from './components.js';
import { hasRole, SessionContext, type Self, type Session } from './context.js';
import { initialLang, keepLang, translator, type Key, type Lang } from './i18n.js';
import { AccessReportPage } from './pages/access-report.js';
import { EventsPage } from './pages/events.js';
import { ExportsPage } from './pages/exports.js';
import { FlagsPage } from './pages/flags.js';
import { ImpactPage } from './pages/impact.js';
import { PrivacyPage } from './pages/privacy.js';
import { KeysPage } from './pages/keys.js';
import { PrincipalsPage } from './pages/principals.js';
import { VerifyPage } from './pages/verify.js';

interface Page {
  id: string;
  label: Key;
  /** the roles the API lets through; the console hides the rest, the API still refuses them */
  roles: Self['roles'];
  view: () => preact.JSX.Element;
}

const PAGES: Page[] = [
  { id: 'events', label: 'nav.events', roles: ['security'], view: EventsPage },
  { id: 'report', label: 'nav.report', roles: ['security', 'privacy'], view: AccessReportPage },
  { id: 'verify', label: 'nav.verify', roles: ['security'], view: VerifyPage },
  { id: 'exports', label: 'nav.exports', roles: ['security'], view: ExportsPage },
  { id: 'flags', label: 'nav.flags', roles: ['security'], view: FlagsPage },
  { id: 'impact', label: 'nav.impact', roles: ['security'], view: ImpactPage },
  { id: 'privacy', label: 'nav.privacy', roles: ['privacy'], view: PrivacyPage },
  { id: 'principals', label: 'nav.principals', roles: ['admin'], view: PrincipalsPage },
  { id: 'keys', label: 'nav.keys', roles: ['admin'], view: KeysPage },
];

function currentHash(): string {
  return window.location.hash.replace(/^#\/?/, '');
}

function SignIn({ t, onToken, error }: { t: (key: Key) => string; onToken: (token: string) => void; error: unknown }) {
  const [token, setToken] = useState('');
  const [invalid, setInvalid] = useState(false);
  return (
    <main id="main" class="signin">
      <h1>{t('signin.title')}</h1>
      <p>{t('signin.help')}</p>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          const trimmed = token.trim();
          if (!TOKEN_PATTERN.test(trimmed)) {
            setInvalid(true);
            return;
          }
          setToken('');
          onToken(trimmed);
        }}
      >
        <label>
          {t('signin.token')}
          <input type="password" name="token" autocomplete="off" spellcheck={false} value={token} onInput={(e) => setToken(e.currentTarget.value)} aria-invalid={invalid} aria-describedby={invalid ? 'token-invalid' : undefined} required />
        </label>
        {invalid && (
          <p id="token-invalid" class="error">
            {t('signin.invalid')}
          </p>
        )}
        <button type="submit">{t('signin.submit')}</button>
      </form>
      {error !== null && <SignInError error={error} t={t} />}
    </main>
  );
}

/** The sign-in failure, shown with the same box as every other error (it needs a session context). */
function SignInError({ error, t }: { error: unknown; t: (key: Key) => string }) {
  const session = useMemo(() => ({ t }) as Session, [t]);
  return (
    <SessionContext.Provider value={session}>
      <ErrorBox error={error} />
    </SessionContext.Provider>
  );
}

function App() {
  const [lang, setLang] = useState<Lang>(initialLang());
  const t = useMemo(() => translator(lang), [lang]);
  const [token, setToken] = useState<string | null>(storedToken());
  const [me, setMe] = useState<Self | null>(null);
  const [signInError, setSignInError] = useState<unknown>(null);
  const [route, setRoute] = useState(currentHash());

  useEffect(() => keepLang(lang), [lang]);
  useEffect(() => {
    const onHash = () => setRoute(currentHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    if (token === null) return;
    call(clientFor(token).GET('/v1/me')).then(
      (self) => {
        keepToken(token);
        setMe(self);
      },
      (failure: unknown) => {
        forgetToken();
        setToken(null);
        setSignInError(failure);
      },
    );
  }, [token]);

  const switcher = (
    <button type="button" class="lang" lang={lang === 'en' ? 'vi' : 'en'} onClick={() => setLang(lang === 'en' ? 'vi' : 'en')}>
      {t('lang.switch')}
    </button>
  );
  if (token === null || me === null) {
    return (
      <>
        <header class="top">
          <span class="brand">{t('app.title')}</span>
          {switcher}
        </header>
        {token === null ? <SignIn t={t} error={signInError} onToken={(next) => { setSignInError(null); setToken(next); }} /> : <p class="muted">{t('loading')}</p>}
      </>
    );
  }

  const session: Session = { client: clientFor(token), token, me, lang, t };
  const visible = PAGES.filter((page) => hasRole(me, ...page.roles));
  const page = visible.find((candidate) => candidate.id === route) ?? visible[0];
  const signOut = () => {
    forgetToken();
    setMe(null);
    setToken(null);
  };
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">{t('app.title')}</span>
        <span class="who">
          {t('signedInAs')} <strong>{me.name}</strong> · {t('roles')}: {me.roles.join(', ')}
        </span>
        {switcher}
        <button type="button" onClick={signOut}>
          {t('signout')}
        </button>
      </header>
      <nav aria-label="main">
        <ul>
          {visible.map((candidate) => (
            <li key={candidate.id}>
              <a href={`#/${candidate.id}`} aria-current={candidate === page ? 'page' : undefined}>
                {t(candidate.label)}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        {page ? <page.view key={page.id} /> : <p>{t('nothing')}</p>}
      </main>
    </SessionContext.Provider>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
