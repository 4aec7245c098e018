import { render } from 'preact';
import { useEffect, useReducer, useState } from 'preact/hooks';
import { ApiContext, ReinApi, useApi } from './api.js';
import { LayoutContext, OffThreadLayout } from './dag.js';
import { onLink, usePlace } from './nav.js';
import { ComparePage } from './compare-page.js';
import { LessonsPage } from './lessons-page.js';
import { RunPage } from './run-page.js';
import { RunsList } from './runs-list.js';
import './style.css';

function Login() {
  const api = useApi();
  const [value, setValue] = useState('');
  return (
    <form
      class="login"
      data-testid="login"
      onSubmit={(e) => {
        e.preventDefault();
        api.setToken(value.trim() || null);
        location.reload();
      }}
    >
      <p>The API needs a bearer token{api.token() ? ' (the one given was refused)' : ''}.</p>
      <input
        type="password"
        name="token"
        placeholder="token"
        autocomplete="off"
        value={value}
        onInput={(e) => setValue(e.currentTarget.value)}
      />
      <button type="submit">Sign in</button>
    </form>
  );
}

function App() {
  const api = useApi();
  const place = usePlace();
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  useEffect(() => api.onAuthChange(() => rerender(0)), []);
  return (
    <div class="app">
      <header class="top">
        <a href="/" class="brand" onClick={(e) => onLink(e, '/')}>
          Rein inspector
        </a>
        <a href="/lessons" class="nav" onClick={(e) => onLink(e, '/lessons')} data-testid="nav-lessons">
          lessons
        </a>
        {api.token() ? (
          <button class="link" onClick={() => (api.setToken(null), location.reload())}>
            sign out
          </button>
        ) : null}
      </header>
      {api.needsLogin ? <Login /> : null}
      {place.lessons ? (
        <LessonsPage />
      ) : place.compare !== null ? (
        <ComparePage a={place.compare.a} b={place.compare.b} />
      ) : place.runId === null ? (
        <RunsList />
      ) : (
        // One page per run: going to another (a fork just made) starts with none of this one's state.
        <RunPage key={place.runId} runId={place.runId} query={place.query} />
      )}
    </div>
  );
}

// The page's one API client (the token lives in this tab's sessionStorage) and its layout worker,
// both made when it loads.
render(
  <ApiContext.Provider value={new ReinApi(sessionStorage)}>
    <LayoutContext.Provider value={new OffThreadLayout()}>
      <App />
    </LayoutContext.Provider>
  </ApiContext.Provider>,
  document.getElementById('app')!,
);
