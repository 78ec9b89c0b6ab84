//! Reference codes: what a caller writes down and reads back over the phone.
//!
//! Eight Crockford base32 symbols (40 random bits) and one Luhn mod 32 check symbol, shown as
//! `XXXX-XXXX-C`. Crockford's alphabet leaves out I, L, O and U, and reading forgives the usual
//! confusions (O→0, I/L→1), case and dashes. Luhn mod N catches every single wrong symbol and
//! every swap of two neighbours but one (0 with Z, its blind spot like 09/90 in decimal Luhn),
//! the two commonest dictation errors.

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const DATA_LEN: usize = 8;

/// A valid reference code, stored in canonical form (`XXXX-XXXX-C`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReferenceCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("reference code must have 9 symbols")]
    Length,
    #[error("reference code has a symbol outside the Crockford alphabet")]
    Symbol,
    #[error("reference code check symbol does not match; a symbol was misheard or swapped")]
    Check,
}

fn value_of(c: char) -> Option<u32> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&a| a as char == c)
        .map(|p| p as u32)
}

/// Luhn mod N over the values, N = 32: the symbol that makes the weighted sum a multiple of 32.
fn check_value(values: &[u32]) -> u32 {
    let mut sum = 0;
    // Double every second value counting from the right, as Luhn does for the data part.
    for (i, v) in values.iter().rev().enumerate() {
        let mut addend = if i % 2 == 0 { v * 2 } else { *v };
        addend = addend / 32 + addend % 32;
        sum += addend;
    }
    (32 - sum % 32) % 32
}

impl ReferenceCode {
    /// The code for 40 bits of randomness (higher bits are ignored).
    pub fn from_bits(bits: u64) -> Self {
        let values: Vec<u32> = (0..DATA_LEN)
            .rev()
            .map(|i| ((bits >> (i * 5)) & 31) as u32)
            .collect();
        let check = check_value(&values);
        let mut s = String::with_capacity(11);
        for (i, v) in values.iter().enumerate() {
            if i == 4 {
                s.push('-');
            }
            s.push(ALPHABET[*v as usize] as char);
        }
        s.push('-');
        s.push(ALPHABET[check as usize] as char);
        Self(s)
    }

    /// Reads a code as typed or dictated: case, dashes, spaces and O/I/L confusions forgiven.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let symbols: Vec<char> = input.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
        if symbols.len() != DATA_LEN + 1 {
            return Err(Error::Length);
        }
        let values = symbols
            .iter()
            .map(|c| value_of(*c).ok_or(Error::Symbol))
            .collect::<Result<Vec<_>, _>>()?;
        let (data, check) = values.split_at(DATA_LEN);
        if check_value(data) != check[0] {
            return Err(Error::Check);
        }
        let bits = data.iter().fold(0u64, |acc, v| (acc << 5) | u64::from(*v));
        Ok(Self::from_bits(bits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ReferenceCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_back_dictation_confusions() {
        let code = ReferenceCode::from_bits(0x12_3456_789A);
        let sloppy = code
            .as_str()
            .to_lowercase()
            .replace('-', " ")
            .replace('1', "l");
        assert_eq!(ReferenceCode::parse(&sloppy).unwrap(), code);
        assert_eq!(code.as_str().len(), 11);
    }

    proptest! {
        #[test]
        fn every_code_parses_to_itself(bits in 0u64..(1 << 40)) {
            let code = ReferenceCode::from_bits(bits);
            prop_assert_eq!(ReferenceCode::parse(code.as_str()), Ok(code));
        }

        #[test]
        fn a_single_wrong_symbol_is_caught(bits in 0u64..(1 << 40), pos in 0usize..9, delta in 1u32..32) {
            let code = ReferenceCode::from_bits(bits);
            let mut symbols: Vec<u32> = code.as_str().chars().filter(|c| *c != '-').map(|c| value_of(c).unwrap()).collect();
            symbols[pos] = (symbols[pos] + delta) % 32;
            let typed: String = symbols.iter().map(|v| ALPHABET[*v as usize] as char).collect();
            prop_assert_eq!(ReferenceCode::parse(&typed), Err(Error::Check));
        }

        #[test]
        fn swapping_neighbours_is_caught(bits in 0u64..(1 << 40), pos in 0usize..8) {
            let code = ReferenceCode::from_bits(bits);
            let mut symbols: Vec<char> = code.as_str().chars().filter(|c| *c != '-').collect();
            prop_assume!(symbols[pos] != symbols[pos + 1]);
            // Luhn's one blind spot: 0 and the last symbol double to themselves.
            let pair = [symbols[pos], symbols[pos + 1]];
            prop_assume!(pair != ['0', 'Z'] && pair != ['Z', '0']);
            symbols.swap(pos, pos + 1);
            let typed: String = symbols.into_iter().collect();
            prop_assert_eq!(ReferenceCode::parse(&typed), Err(Error::Check));
        }
    }
}
