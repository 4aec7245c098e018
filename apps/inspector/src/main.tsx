import { render } from 'preact';
import { useEffect, useReducer, useState } from 'preact/hooks';
import { needsLogin, onAuthChange, setToken, token } from './api.js';
import { onLink, usePlace } from './nav.js';
import { RunPage } from './run-page.js';
import { RunsList } from './runs-list.js';
import './style.css';

function Login() {
  const [value, setValue] = useState('');
  return (
    <form
      class="login"
      data-testid="login"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(value.trim() || null);
        location.reload();
      }}
    >
      <p>The API needs a bearer token{token() ? ' (the one given was refused)' : ''}.</p>
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
  const place = usePlace();
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  useEffect(() => onAuthChange(() => rerender(0)), []);
  return (
    <div class="app">
      <header class="top">
        <a href="/" class="brand" onClick={(e) => onLink(e, '/')}>
          Rein inspector
        </a>
        {token() ? (
          <button class="link" onClick={() => (setToken(null), location.reload())}>
            sign out
          </button>
        ) : null}
      </header>
      {needsLogin ? <Login /> : null}
      {place.runId === null ? <RunsList /> : <RunPage runId={place.runId} query={place.query} />}
    </div>
  );
}

render(<App />, document.getElementById('app')!);
