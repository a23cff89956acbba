/**
 * Finds what looks like a payment card number: 13 to 19 digits, written together or grouped
 * by single spaces or dashes (`4242 4242 4242 4242`), that pass the Luhn check. This API takes
 * test tokens (`tok_visa`), never card data, so a body holding one is refused before it is
 * parsed, stored or logged. A run of more than 19 digits without separators is not a card
 * number (order numbers, hashes) and is let through.
 */
export function containsCardNumber(text: string): boolean {
  for (const match of text.matchAll(/\d+(?:[ -]\d+)*/g)) {
    const groups = match[0].split(/[ -]/);
    // any consecutive groups may be the card: "ref 1000 4242 4242 4242 4242"
    for (let i = 0; i < groups.length; i++) {
      let digits = '';
      for (let j = i; j < groups.length; j++) {
        digits += groups[j];
        if (digits.length > 19) break;
        if (digits.length >= 13 && luhnValid(digits)) return true;
      }
    }
  }
  return false;
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}
