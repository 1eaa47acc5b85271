// local placeholder (issue3 worktree only, never committed)
