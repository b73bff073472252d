complete --keep-order --exclusive --command weftctl --arguments "(COMPLETE=fish weftctl -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
