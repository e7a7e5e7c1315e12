# fish completion for mx: asks mx itself (yargs) for the words that fit here.
# Install: cp completions/mx.fish ~/.config/fish/completions/
function __mx_complete
    set -l words (commandline -opc) (commandline -ct)
    mx --get-yargs-completions $words 2>/dev/null
end
complete -c mx -f -a '(__mx_complete)'
