# bash completion for shmview(1): commands, each command's options, --format values, and
# segment names (from `shmview ls --names`, on the socket given with --socket if any).

_shmview_segments()
{
        local socket=$1
        if [[ -n $socket ]]; then
                shmview --socket "$socket" ls --names 2>/dev/null
        else
                shmview ls --names 2>/dev/null
        fi
}

_shmview()
{
        local cur prev
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        local commands="ls stat create rm seal wait notify dump write clients status watch restart help"

        # The command is the first word that is neither an option nor an option's argument.
        local i cmd="" socket="" nargs=0
        for ((i = 1; i < COMP_CWORD; i++)); do
                case ${COMP_WORDS[i]} in
                --socket | -S)
                        socket=${COMP_WORDS[i + 1]}
                        ((i++))
                        ;;
                --mode | --offset | --length | --format | --output | --timeout | -m | -s | -l | -f | -o | -t)
                        ((i++))
                        ;;
                -*) ;;
                *)
                        if [[ -z $cmd ]]; then
                                cmd=${COMP_WORDS[i]}
                        else
                                ((nargs++))
                        fi
                        ;;
                esac
        done

        case $prev in
        --socket | -S)
                COMPREPLY=($(compgen -f -- "$cur"))
                return
                ;;
        --format | -f)
                COMPREPLY=($(compgen -W "hex raw" -- "$cur"))
                return
                ;;
        --mode | --offset | --length | --output | --timeout | -m | -s | -l | -o | -t)
                COMPREPLY=()
                return
                ;;
        esac

        if [[ -z $cmd ]]; then
                COMPREPLY=($(compgen -W "$commands --socket --help --version" -- "$cur"))
                return
        fi

        local opts="--socket --help" names=0
        case $cmd in
        ls) opts+=" --json --bytes --names --output --noheadings --raw --notruncate" ;;
        stat)
                opts+=" --json --bytes --output --noheadings --raw --notruncate"
                ((nargs == 0)) && names=1
                ;;
        create) opts+=" --mode" ;;
        rm) names=1 ;;
        seal) ((nargs == 0)) && names=1 ;;
        wait) opts+=" --sealed --timeout"; ((nargs == 0)) && names=1 ;;
        notify) ((nargs == 0)) && names=1 ;;
        dump) opts+=" --offset --length --format"; ((nargs == 0)) && names=1 ;;
        write) opts+=" --offset"; ((nargs == 0)) && names=1 ;;
        clients) opts+=" --json --bytes --output --noheadings --raw --notruncate" ;;
        status) opts+=" --json --bytes" ;;
        watch) opts+=" --json" ;;
        help)
                ((nargs == 0)) && COMPREPLY=($(compgen -W "$commands" -- "$cur"))
                return
                ;;
        *) return ;;
        esac

        if [[ $cur == -* || $names == 0 ]]; then
                COMPREPLY=($(compgen -W "$opts" -- "$cur"))
                return
        fi
        local IFS=$'\n'
        COMPREPLY=($(compgen -W "$(_shmview_segments "$socket")" -- "$cur"))
}

complete -F _shmview shmview
