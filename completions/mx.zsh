#compdef mx
###-begin-mx-completions-###
#
# yargs command completion script
#
# Installation: mx completion >> ~/.zshrc
#    or mx completion >> ~/.zprofile on OSX.
#
_mx_yargs_completions()
{
  local reply
  local si=$IFS
  IFS=$'
' reply=($(COMP_CWORD="$((CURRENT-1))" COMP_LINE="$BUFFER" COMP_POINT="$CURSOR" mx --get-yargs-completions "${words[@]}"))
  IFS=$si
  if [[ ${#reply} -gt 0 ]]; then
    _describe 'values' reply
  else
    _default
  fi
}
if [[ "${zsh_eval_context[-1]}" == "loadautofunc" ]]; then
  _mx_yargs_completions "$@"
else
  compdef _mx_yargs_completions mx
fi
###-end-mx-completions-###
