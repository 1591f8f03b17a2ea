# fish completion for l32-tokenize

complete -c l32-tokenize -s B -l bos -d 'Prepend <|begin_of_text|> to each text'
complete -c l32-tokenize -s c -l count -d 'Write only the number of tokens'
complete -c l32-tokenize -l chat-format -x -a 'hf meta' -d 'How messages are rendered'
complete -c l32-tokenize -l chunk -d "Cut texts as Meta's tokenizer does"
complete -c l32-tokenize -s d -l decode -d 'Turn token ids into text'
complete -c l32-tokenize -l date -x -a today -d 'The date in the chat system header'
complete -c l32-tokenize -s h -l help -d 'Print the usage'
complete -c l32-tokenize -s m -l model -r -F -d 'Take the tokenizer from a model file or directory'
complete -c l32-tokenize -l max-line -x -d 'Longest input line, in bytes'
complete -c l32-tokenize -s P -l pieces -d 'Add the text of each token'
complete -c l32-tokenize -l progress -d 'Write a progress line to stderr'
complete -c l32-tokenize -s r -l raw -d 'Write only the ids, the count or the text'
complete -c l32-tokenize -s s -l special -d 'Parse special-token strings'
complete -c l32-tokenize -s T -l text -d 'Each input line is plain text'
complete -c l32-tokenize -l tokenizer -r -F -d 'tokenizer.json, tokenizer.model or a directory'
complete -c l32-tokenize -s V -l version -d 'Print the version'
