import { ConfigIssueError, configIssueOf } from '../src';

test('a ConfigIssueError is its issue as data and the one-line "<path>: <message>" as text', () => {
  const e = new ConfigIssueError(['model', 'domainAwareStages', 0], 'stage 5 out of range 1..4');
  expect(e.message).toBe('model.domainAwareStages[0]: stage 5 out of range 1..4');
  expect(e.issue).toEqual({ path: ['model', 'domainAwareStages', 0], message: 'stage 5 out of range 1..4' });
  expect(new ConfigIssueError([], 'no path').message).toBe('no path');
});

test('configIssueOf reads the issue of a ConfigIssueError or of any error carrying one, else null', () => {
  expect(configIssueOf(new ConfigIssueError(['loss', 'margin'], 'too small'))).toEqual({
    path: ['loss', 'margin'],
    message: 'too small',
  });
  const carried = Object.assign(new Error('option --size: expected a positive integer, got 0'), {
    issue: { path: ['size'], message: 'expected a positive integer, got 0' },
  });
  expect(configIssueOf(carried)).toEqual({ path: ['size'], message: 'expected a positive integer, got 0' });
  expect(configIssueOf(new Error('model.width: bad'))).toBeNull(); // text is never parsed
  expect(configIssueOf(Object.assign(new Error('x'), { issue: { path: 'size' } }))).toBeNull();
  expect(configIssueOf(null)).toBeNull();
});
