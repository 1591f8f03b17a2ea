# bash completion for the l32 programs.
#
# One file serves them all: `make install` installs it under each program's
# name in bash-completion's completions directory, and it registers the
# completion of every program it knows when sourced.

# Options each program takes (those that take an argument end with "=").
_l32_options()
{
	case $1 in
	l32-embed)
		echo "-b= --batch= -c= --ctx= --dimensions= --encoding-format= -h --help"
		echo "--check-weights --kv-f16 --max-line= -m= --model= --no-normalize --normalize"
		echo "--pooling= --progress -r --raw -T --text -t= --threads="
		echo "--truncate -V --version"
		;;
	l32-generate)
		echo "-b= --batch= -c= --ctx= --chat-format= --date= --grammar= -h --help --check-weights --cache-mem= --kv-f16"
		echo "--max-line= --max-tokens= -m= --model= --prefix-cache= --progress -r --raw"
		echo "--seed= --sse -s= --system= --temperature= -T --text"
		echo "-t= --threads= -V --version"
		;;
	l32-rewrite)
		echo "-b= --batch= -c= --ctx= --chat-format= --date= -h --help"
		echo "--instructions= --check-weights --cache-mem= --kv-f16 --language= --max-line= --max-tokens="
		echo "-m= --model= --prefix-cache= --progress -r --raw --seed= --show-prompt --task="
		echo "--temperature= -T --text -t= --threads= -V --version"
		;;
	l32-serve)
		echo "--api-key-file= -b= --batch= -c= --ctx= --chat-format= --check-weights --date="
		echo "--grace= -h --help --host= --cache-mem= --kv-f16 --max-body= --max-conns="
		echo "--max-header= --max-tokens= -m= --model= --no-embeddings --port="
		echo "--prefix-cache= --queue= --seed= --temperature= -t= --threads= --timeout= -V --version"
		;;
	l32-summarize)
		echo "-b= --batch= -c= --ctx= --chat-format= --date= -f --file --focus= --format="
		echo "-h --help --check-weights --cache-mem= --kv-f16 --language= --max-line= --max-tokens="
		echo "--max-words= -m= --model= --prefix-cache= --progress -r --raw --seed="
		echo "--temperature= -T --text -t= --threads= -V --version"
		;;
	l32-tokenize)
		echo "-B --bos -c -n --count --chat-format= --chunk -d --decode"
		echo "--date= -h --help -m= --model= --max-line= -P --pieces"
		echo "--progress -r --raw -s -S --special -T --text --tokenizer="
		echo "-V --version"
		;;
	esac
}

# Completes file and directory names for $1, each prefixed with $2.
_l32_files()
{
	local IFS=$'\n'

	[[ -z $2 ]] && compopt -o filenames 2>/dev/null
	COMPREPLY=($(compgen -P "$2" -f -- "$1"))
}

_l32()
{
	local cur prev prog opt opts w pre=
	local -a words

	COMPREPLY=()
	prog=${COMP_WORDS[0]##*/}
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}

	# "--opt=value" arrives split at "=" (COMP_WORDBREAKS).
	if [[ $cur == = ]]; then
		cur=
	elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	fi
	if [[ $cur == --*=* ]]; then  # COMP_WORDBREAKS without "=": keep the prefix
		prev=${cur%%=*}
		pre=$prev=
		cur=${cur#*=}
	fi

	case $prev in
	--chat-format)
		COMPREPLY=($(compgen -P "$pre" -W "hf meta" -- "$cur"))
		return
		;;
	--date)
		COMPREPLY=($(compgen -P "$pre" -W "today" -- "$cur"))
		return
		;;
	--encoding-format)
		COMPREPLY=($(compgen -P "$pre" -W "float base64" -- "$cur"))
		return
		;;
	--format)
		COMPREPLY=($(compgen -P "$pre" -W "paragraph bullets tldr" -- "$cur"))
		return
		;;
	--pooling)
		COMPREPLY=($(compgen -P "$pre" -W "mean last" -- "$cur"))
		return
		;;
	--task)
		COMPREPLY=($(compgen -P "$pre" -W "query concise formal casual simplify grammar translate" -- "$cur"))
		return
		;;
	-m | --model | --tokenizer | --api-key-file | --grammar | --prefix-cache)
		_l32_files "$cur" "$pre"
		return
		;;
	esac
	opts=$(_l32_options "$prog")
	for opt in $opts; do  # another option that takes an argument
		[[ $opt == "$prev=" ]] && return
	done

	if [[ $cur == -* ]]; then
		words=()
		for opt in $opts; do
			w=${opt%=}
			words+=("$w")
		done
		COMPREPLY=($(compgen -W "${words[*]}" -- "$cur"))
		return
	fi
	_l32_files "$cur"
}

complete -F _l32 l32-embed l32-generate l32-rewrite l32-serve l32-summarize l32-tokenize
